from sharedformer_tf.sharing.sharing_plan import SCOPES, STRATEGIES, SharingPlan

__all__ = ["SCOPES", "STRATEGIES", "SharingPlan"]
