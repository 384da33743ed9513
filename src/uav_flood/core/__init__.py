"""Algorithms of uav_flood: pure Python, NumPy, shapely, OpenCV, onnxruntime; never rclpy."""
