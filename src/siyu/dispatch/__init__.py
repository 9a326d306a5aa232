"""The one dispatcher every outbound message goes through."""
