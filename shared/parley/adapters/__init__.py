"""Adapters: the only modules that import pymongo or boto3."""
