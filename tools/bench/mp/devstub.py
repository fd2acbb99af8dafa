# An empty module: devimports.py imports it afresh to stand in for a package whose submodule
# is measured before the package itself.
