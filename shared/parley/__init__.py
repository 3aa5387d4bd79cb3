"""Parley: the chat core shared by every Lambda function (shipped as the layer built from shared/).

Layout (dependencies point inward):
- ``model``, ``errors``, ``ports``: plain data, precise errors and the small interfaces the chat needs.
- ``chat``: the chat services (join, leave, send, typing, history, presence) written against the ports.
- ``adapters``: pymongo stores, the API Gateway Management API broadcaster, Secrets Manager.
- ``config``, ``tokens``, ``passwords``, ``events``, ``observability``: the plumbing handlers share.
"""
