"""One construct per logical unit of the release platform; stacks compose them."""
