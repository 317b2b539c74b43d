"""The console's workflows: the user is asked here, the engine decides and records.

One module per workflow (acknowledging alerts, drills, maintenance marks, the balancer's drain /
ready); each calls the same engine function every other front-end calls.
"""
