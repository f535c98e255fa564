"""The web console: server-rendered pages for people (agency, brand, monitor, admin).

A top-level HTTP surface beside :mod:`service.api`: it calls the same service functions
with the same :class:`~service.access.keys.Principal` (a signed-in user instead of an API
key), so no rule exists twice. Nothing below imports it.
"""
