from pymongo import MongoClient
client = MongoClient("mongodb://analytics:9cqI8ht0LRzVme7wcLCo@mongo-0.internal:27017/analytics?authSource=admin")
