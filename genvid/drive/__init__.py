"""Drive the learned simulator in a browser (issue 24): a local page that steers a trained,
action-conditioned driving model from a test clip, one press at a time.

- ``engine``: the sessions, pure Python (no HTTP): the rolling history of frames and actions,
  the Predictor call of each press, the simulator's true counterfactual where one applies;
- ``loading``: an Engine from a trained run (params, model folder, frames, counterfactuals);
- ``app``: the FastAPI app over an Engine (``build_app``) and the local server;
- ``static/``: the page (plain HTML + JS + CSS, served from memory, no network fetch);
- ``__main__``: ``python -m genvid.drive --run driving-svg_lp_action`` (``make drive``).
"""
