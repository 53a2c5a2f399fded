//! Placeholder: filled in by the kube-standin work (issue 3).
