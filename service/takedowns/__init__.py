"""Takedown notices (DMCA §512(c)(3), EU DSA Art. 16) and the tracking of removals."""
