"""qwen-tray: keeps a chat.qwen.ai web session token alive."""

__version__ = "0.1.0"
