"""Graph passes: each a pure function Graph -> Graph (or a small result), tested on its own."""
