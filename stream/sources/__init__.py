"""Pose sources: recorded files (replay), MediaPipe (webcam/video), mocap bridges."""
