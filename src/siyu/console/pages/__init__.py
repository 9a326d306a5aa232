"""The console's pages, one module per area; ``siyu.console.routes`` puts their routers together."""
