"""mia-core's text modality: text records as byte tokens, a causal language model, and the
attacks of the language-model membership-inference literature."""
