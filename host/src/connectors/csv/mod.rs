//! `DelimitedText` files on a local folder: reading and writing CSV with ADF's settings.
