"""Host-side cloud stand-ins: fake Coze/Qwen server, session replay, converter, recorder."""
