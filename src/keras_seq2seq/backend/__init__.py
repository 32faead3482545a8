"""The few places where a Keras backend needs its own line, one module each
(`scan`, `decoding`, `random`, `saved_model`, ...). Import them by module:
this package itself imports nothing, so the modules that need no Keras
(`glibc_malloc`) load without it."""
