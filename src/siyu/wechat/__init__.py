"""WeCom (企业微信) and WeChat (公众号, 小程序) protocol: callback crypto, API client, local stand-in.
Imports no siyu domain."""
