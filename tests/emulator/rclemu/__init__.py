"""RCL SSL API emulator and its local services (Pebble, BIND9, HTTP-01 webroot).

Test-only code: not part of the shipped rcl.ssl collection.
"""
