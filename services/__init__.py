"""The application layer: one function per use case, called the same way by the CLI, the web app
and the watcher. Each takes a Context (who acts, in which role, through which channel, and what
day it is) and returns plain data; permission checks, their audited refusals and the commit of a
change together with its audit event live here, once (context.UnitOfWork).
"""
