"""twinwatch indexer: model packs, face engine, talent registry and FAISS index."""

import warnings

# insightface's norm_crop calls a scikit-image API deprecated in 0.26; the result is unchanged.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"insightface\.utils\.face_align")
