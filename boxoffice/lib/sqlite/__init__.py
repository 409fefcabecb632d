"""Django's SQLite backend, with the database files readable by their owner only.

The embedded database holds customers' personal data and (encrypted) line passwords. Django
creates the file at the first connection with whatever the umask allows (usually 0644); this
backend creates it 0600 first, so the -wal and -shm files SQLite makes beside it inherit that
mode. settings.py selects it (ENGINE "boxoffice.lib.sqlite") for every SQLite database.
"""
