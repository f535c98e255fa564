"""Copy detection: is a scanned image derived from a registered portfolio image?

``features`` (ORB keypoints on a grid, original and mirrored), ``index`` (the FAISS binary
index of every portfolio descriptor, derived from the stored portfolio files), ``verify``
(similarity RANSAC: which region of the original, at what scale and rotation, and where its
face went), ``detector`` (one query end to end, bounded), ``tables`` (the portfolio rows).
"""
