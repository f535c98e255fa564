"""The blob store's top-level areas, one per kind of data (the one owner of these names;
on the folder backend they are the data folder's sub-folders of earlier releases)."""

from __future__ import annotations

PHOTOS = "photos"  # kept reference photos: photos/<talent_id>/<sha256>
EVIDENCE = "evidence"  # alert evidence: evidence/<talent_id>/<alert_id>-<sha256>
CONSENT_DOCUMENTS = "consent-documents"  # consent-documents/<talent_id>/<licence>-<sha>.<ext>
PORTFOLIO = "portfolio"  # portfolio originals (copy detection): portfolio/<talent_id>/<sha>.<ext>
#   and each one's ORB features beside it: portfolio/<talent_id>/<sha>.orb
JOB_UPLOADS = "job-uploads"  # staged batch items: job-uploads/<batch>/<n>.bin

PER_TALENT = (PHOTOS, EVIDENCE, CONSENT_DOCUMENTS, PORTFOLIO)  # erased with the talent
