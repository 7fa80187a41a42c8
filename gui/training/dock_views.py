"""Which run the training dock's views show, and what they follow on the canvas
(the layer in Weights, the node in Inside, the tab in front): a mixin of
:class:`~layerloom.gui.training.dock.TrainingDock`, kept apart so each file stays readable."""

from __future__ import annotations

import time

from layerloom.graph import Event, Graph
from layerloom.gui.training.runs.run_record import Run
from layerloom.gui.training.views.canvas_badges import set_canvas_badges
from layerloom.gui.training.views.gil import gui_first

RUNS_INTERVAL = 1.0  # seconds between updates of the Runs table during a run


class RunViews:
    """The dock's view-following methods; mixed into the dock, whose state they use."""

    # ------------------------------------------------------ secondary refresh
    def _refresh_secondary(self) -> None:
        with gui_first():
            self._refresh_secondary_now()

    def _refresh_secondary_now(self) -> None:
        changed, self._pending = self._pending, set()
        run = self.current or self.shown
        if run is None:
            return
        if run is self.shown:
            self._refresh_tabs(changed)
        if "stats" in changed and run.active and self.scene is not None:
            set_canvas_badges(self.scene, self._badge_values(run))
        now = time.monotonic()
        if "status" in changed or ("epoch" in changed and now - self._runs_updated >= RUNS_INTERVAL):
            self._runs_updated = now
            self.runs_panel.update_run(run)

    def _badge_values(self, run: Run) -> dict:
        """The run's gradient statistics for the canvas nodes that are still the
        layers it trains (same id and type; another file may be open by now)."""
        graph = self.graph
        return {nid: values for nid, values in run.grad_norms().items()
                if graph.has_node(nid) and graph.node(nid).type == run.graph.node(nid).type}

    def _refresh_tabs(self, changed: set[str]) -> None:
        current = self.tabs.currentWidget()
        for view in self.tab_views:
            if view is current or self.refresh_hidden_views:
                view.refresh(changed)

    # ------------------------------------------------------------- showing
    def show_run(self, run: Run | None) -> None:
        """Show ``run`` in every view."""
        self.shown = run
        self._update_layers()
        self.prepare_shown_run(run)
        for view in self.views:
            view.set_run(run)
        self._overlays_changed(self.runs_panel.ticked())
        self._sync_state()

    def show_run_number(self, number: int) -> None:
        for run in self.runs:
            if run.number == number and run is not self.shown:
                self.show_run(run)

    def _overlays_changed(self, numbers: list[int]) -> None:
        self.loss_view.set_overlays([r for r in self.runs if r.number in numbers])

    def _tab_changed(self, _index: int) -> None:
        widget = self.tabs.currentWidget()
        if widget is self.try_it and self.shown is not None and self.shown.model is None \
                and self.ensure_model(self.shown):  # a kept run's weights, read when first tried
            self.try_it.set_run(self.shown)
        if widget is not None:
            widget.refresh()

    def _layers_of(self, graph: Graph) -> list[tuple[str, str]]:
        analysis = graph.analysis()
        return [(nid, graph.node(nid).title) for nid in analysis.order
                if analysis.nodes[nid].params > 0]

    def _update_layers(self) -> None:
        if not self._built:
            return
        graph = self.shown.graph if self.shown is not None else self.graph
        self.weights_view.set_layers(self._layers_of(graph))
        if self.worker is not None:
            self.worker.hist_node = self.weights_view.layer

    def _on_graph_event(self, event: Event) -> None:
        if self._built and self.shown is None and event.kind != "node_moved":
            self._layers_timer.start()

    def on_canvas_selection(self, node_ids: list[str]) -> None:
        """A node selected on the canvas becomes the layer shown in Weights."""
        if len(node_ids) == 1:
            self.inside_view.select_node(node_ids[0])
        if len(node_ids) == 1 and self.weights_view.select_layer(node_ids[0]):
            self._layer_chosen(node_ids[0])

    def _weights_wanted(self) -> None:
        request = getattr(self.worker, "request_weights", None)  # the in-app trainer's only
        if request is not None and self.current is not None and self.current is self.shown:
            request()

    def _layer_chosen(self, node_id: str) -> None:
        if self.worker is not None:
            self.worker.hist_node = node_id
