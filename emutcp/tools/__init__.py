"""The ``emutcp`` command and its verbs: demo, serve, connect, bench, relay,
experiment, diagram.  Each verb is a thin front end over the library and
``emutcp.lab``; a user error is one line on stderr and an exit status."""
