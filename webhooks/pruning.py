from .models import Delivery

BATCH = 10_000


def prune_deliveries(cutoff) -> int:
    """The delivery log's records older than the cutoff (the events' retention), removed in short batches."""
    removed = 0
    while True:
        batch = list(Delivery.objects.filter(timestamp__lt=cutoff).values_list("pk", flat=True)[:BATCH])
        if not batch:
            return removed
        removed += Delivery.objects.filter(pk__in=batch).delete()[0]
