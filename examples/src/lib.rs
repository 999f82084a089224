//! Example rollups built with altlayer-rs. Each example is a function returning what it
//! observed, run by a binary of the same name and checked by a test, so examples cannot rot.
