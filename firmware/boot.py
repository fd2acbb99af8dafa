# Runs before main.py on every reset. Kept to one guarded call: a broken boot.py can lock the
# REPL away, while main.py falls back to a safe mode that keeps it reachable.
# otaboot picks the app version (the base tree or an over-the-air slot) and puts it on sys.path;
# if it fails for any reason, the base tree runs.
try:
    import otaboot

    otaboot.choose()
    del otaboot  # main.py finds it in sys.modules; no name here keeps its RAM from the app
except Exception as exc:  # noqa: BLE001 - the boot must go on
    print("E ota    could not choose the app version (%r): the base tree runs" % (exc,))
