"""skelact.export"""
