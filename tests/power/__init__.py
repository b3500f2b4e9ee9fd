"""Tests of the power knobs and meters on fixture sysfs trees."""
