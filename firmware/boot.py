# Runs before main.py on every reset. Kept empty of logic on purpose: a broken boot.py can lock
# the REPL away, while main.py falls back to a safe mode that keeps it reachable.
