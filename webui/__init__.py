"""The Gradio web UI for the fusion library; the only package in this project that imports gradio."""
