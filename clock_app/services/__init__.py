"""The write side: every state change of the app lives here, named ``<entity>_<action>``.

Each money movement is one ``transaction.atomic`` that changes state with a conditional ``UPDATE`` (or under a
row lock) and writes its ledger row through :mod:`clock_app.services.ledger`.
"""
