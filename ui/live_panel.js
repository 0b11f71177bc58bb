// The live panel of a run (ui/live_run.py): progress bars, figures and curves, drawn from the state that
// nin_core/runs/live.py makes. While the run is active the panel asks the app's route for that state every poll and
// changes only what changed; Streamlit is asked to rerun the page only when the state's signature changes.
// Every URL comes from the page (data.url, data.plotly_url), under the app's base path; every word it shows comes
// from that state too, in the page's language (data.lang, sent back with each poll): none is written here.

const CHART_CONFIG = {displaylogo: false, responsive: true};

function loadPlotly(url) {
    // one copy for the whole page, loaded as the panel first shows (a queued run's curves come later, but the
    // seconds of CPU it takes to load must not fall on the run once it trains)
    window.ninPlotly ??= new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = url;
        script.onload = () => resolve(window.Plotly);
        script.onerror = () => reject(new Error("plotly.js did not load"));
        document.head.appendChild(script);
    });
    return window.ninPlotly;
}

function bar(info) {
    const percent = Math.round(info.value * 100);
    const el = document.createElement("div");
    el.className = "nin-bar";
    el.dataset.testid = "live-progress";
    el.innerHTML = '<div class="nin-bar-text"></div><div class="nin-track" role="progressbar" aria-valuemin="0" '
        + 'aria-valuemax="100"><div class="nin-fill"></div></div>';
    el.querySelector(".nin-bar-text").textContent = info.text;
    el.querySelector(".nin-track").setAttribute("aria-valuenow", String(percent));
    el.querySelector(".nin-fill").style.width = `${percent}%`;
    return el;
}

function metric([label, value]) {
    const el = document.createElement("div");
    el.className = "nin-metric";
    el.dataset.testid = "live-metric";
    el.innerHTML = '<div class="nin-metric-label"></div><div class="nin-metric-value"></div>';
    el.querySelector(".nin-metric-label").textContent = label;
    el.querySelector(".nin-metric-value").textContent = value;
    return el;
}

// Replaces a box's children only when what they show changed: an unchanged bar or figure costs no layout.
function fill(box, items, make) {
    const key = JSON.stringify(items);
    if (box.dataset.shown === key) return;
    box.dataset.shown = key;
    box.replaceChildren(...items.map(make));
}

class Panel {
    constructor(root, plotly) {
        this.root = root;
        this.plotly = plotly;  // a promise of plotly.js
        this.bars = root.querySelector(".nin-bars");
        this.metrics = root.querySelector(".nin-metrics");
        this.chart = root.querySelector(".nin-curves");
        this.note = root.querySelector(".nin-note");
        this.drawn = null;  // how many curve points the chart has
        this.timer = this.wake = null;
        this.busy = false;
        this.texts = {};  // the notes it may show, in the page's language
    }

    show(state) {
        this.texts = state.texts ?? this.texts;
        fill(this.bars, state.bars, bar);
        fill(this.metrics, state.metrics, metric);
        if (state.figure) {
            this.draw(state.figure, state.points).catch(
                () => { this.note.textContent = this.texts.no_plotly ?? ""; });
        }
    }

    async draw(figure, points) {
        const Plotly = await this.plotly;
        const style = getComputedStyle(this.root);
        figure.layout.font = {family: style.fontFamily, color: style.color};
        figure.layout.paper_bgcolor = figure.layout.plot_bgcolor = "rgba(0,0,0,0)";
        await Plotly.react(this.chart, figure.data, figure.layout, CHART_CONFIG);
        this.drawn = points;
    }

    follow(state, rerun) {
        this.stop();
        this.timer = state.active ? setInterval(() => this.poll(state, rerun), state.poll_ms) : null;
        // the page asked to be rerun at a moment (a Stop button that is disabled until then)
        if (state.rerun_in_ms) this.wake = setTimeout(() => rerun("wake"), state.rerun_in_ms);
    }

    async poll(mounted, rerun) {
        if (this.busy || document.hidden) return;  // a tab nobody looks at asks for nothing
        this.busy = true;
        try {
            const query = new URLSearchParams({lang: mounted.lang ?? "", drawn: this.drawn ?? ""});
            const response = await fetch(`${mounted.url}?${query}`, {cache: "no-store"});
            if (response.status === 404) {  // deleted meanwhile: the page says what it shows now
                this.stop();
                rerun("gone");
                return;
            }
            if (!response.ok) throw new Error(`status ${response.status}`);
            const state = await response.json();
            this.note.textContent = "";
            this.show(state);
            if (JSON.stringify(state.signature) !== JSON.stringify(mounted.signature)) {
                this.stop();
                rerun(JSON.stringify(state.signature));
            }
        } catch (error) {  // the app server restarting, say: keep asking
            this.note.textContent = this.texts.lost ?? "";
        } finally {
            this.busy = false;
        }
    }

    stop() {
        clearInterval(this.timer);
        clearTimeout(this.wake);
        this.timer = this.wake = null;
    }
}

export default function ({data, parentElement, setTriggerValue}) {
    const root = parentElement.querySelector(".nin-live");
    const panel = root.ninPanel ??= new Panel(root, loadPlotly(data.plotly_url));
    panel.show(data);
    panel.follow(data, (value) => setTriggerValue("changed", value));
    return () => panel.stop();
}
