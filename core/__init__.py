"""The studio's core: jobs, queue, providers and storage. Never imports streamlit."""
