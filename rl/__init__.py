"""tradewind.rl: the trading environment, agent networks, training and baselines."""
