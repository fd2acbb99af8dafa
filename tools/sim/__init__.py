"""Host simulator: the real firmware app on CPython, virtual hardware, a (fake or real) cloud."""
