"""skelact.models"""
