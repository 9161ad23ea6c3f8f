"""tradewind.rl: the trading environment, agent networks, training and baselines.

Modules (imported explicitly; this package import stays light, without torch or ray):

- ``tradewind.rl.data``: ``MarketData`` (arrays loaded once from the feature marts, or built
  from bars / synthetic paths) and ``load_market_data`` (the warehouse loader);
- ``tradewind.rl.core``: the pure numpy stepping core (weights from scores, costs, reward);
- ``tradewind.rl.env``: ``PortfolioEnv`` (its docstring is the environment's specification),
  registered with Gymnasium as ``tradewind/Portfolio-v0``;
- ``tradewind.rl.vector_env``: ``PortfolioVectorEnv``, many environments per numpy call;
- ``tradewind.rl.model``: ``EIIEModule``, the agent's RLlib RLModule (torch);
- ``tradewind.rl.ppo``: ``make_ppo_config`` and the RLlib env creator;
- ``tradewind.rl.baselines``: equal weight, buy and hold, minimum variance, momentum, and
  ``run_policy`` (any policy -> a daily return frame).
"""
