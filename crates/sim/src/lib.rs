//! Fault-injecting job simulator (being written).
