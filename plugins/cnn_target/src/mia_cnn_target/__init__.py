"""LeNet target model for mia-core."""
