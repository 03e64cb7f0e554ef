"""skelact.tools"""
