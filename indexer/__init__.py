"""twinwatch indexer: model packs, face engine, talent registry and FAISS index."""
