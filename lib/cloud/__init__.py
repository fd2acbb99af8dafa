# Sans-IO protocol layer for the realtime voice clouds: Coze chat / transcriptions / speech and
# Qwen-Omni. Import the session you need (cloud.coze_chat.CozeChat, ...); see cloud/base.py for
# the interface every session shares. Nothing here does I/O.
