"""Plain-torch references for the Hugging Face model families ilm loads (GPT-2, Llama 1/2/3,
Mistral, Falcon, BERT) and the fixtures built from them; see tests/reference/README.md."""
