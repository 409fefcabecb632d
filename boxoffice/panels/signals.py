"""What panels tell the apps above them, without knowing who listens."""

from django.dispatch import Signal

# A panel that was down answers again (sent once per recovery, by `panel_mark_up`, with
# `panel=`). Provisioning releases the operations that waited for it; a receiver returns how
# many it released.
panel_back_up = Signal()
