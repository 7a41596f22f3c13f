"""Evaluating LR policies (004 §4): metrics and ranking, verification, M-opt, the LR value range test."""
